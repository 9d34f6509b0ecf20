"""What the generator conditions on.

Prompts (views, tags, limits), timed prompts and their blend weights, time-aligned layouts and
the timeline text format.
"""
