"""Turning a conditioning and noise into a latent.

Settings (defaults and limits), sigma schedules, noise and seeds, the Euler loop, guidance and
blending, editing masks, windows for long clips and the time grid (seconds <-> frames).
"""
