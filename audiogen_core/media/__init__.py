"""Audio and pictures around the model (never imports the models).

Resampling, loudness, mixing, pictures of audio, scene cuts and file writing.
"""
