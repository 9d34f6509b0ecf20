"""What the generator conditions on.

Prompts (views, tags, limits), the encoded conditioning types, timed prompts and their blend
weights, time-aligned layouts, the timeline and its text format, and the time grid (seconds <->
frames) they share with sampling.
"""
