"""The architecture under the official checkpoint key names.

Layers and the operations namespace, the DiT, the content adapter, the generator module, the T5
encoder and the audio tokenizer. Nothing here reads files, draws noise or runs a sampling loop:
a model answers "output for these inputs"; checkpoints/ fills it, sampling/ drives it.
"""
