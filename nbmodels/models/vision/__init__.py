"""The vision family: keras.io's MNIST convnet and a small ResNet (`convnet`), and the Vision
Transformer on the shared transformer trunk (`vit`). Both take images `(B, H, W, C)` and return
float32 class logits."""
