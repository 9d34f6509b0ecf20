"""Turning a conditioning and noise into a latent.

Settings (defaults and limits), sigma schedules, the Euler loop, guidance and blending (the one
place velocities are mixed), the checked sampler entry, noise and seeds, latents and their
lengths, editing masks and windows for long clips.
"""
