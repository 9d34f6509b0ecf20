"""Finding, checking and loading checkpoints.

Snapshot discovery and families (English / multilingual), config reading, the safetensors
reader, the loaders, downloads and the spiece.model -> tokenizer.json conversion.
"""
