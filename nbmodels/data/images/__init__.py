"""Image data: the registered image datasets (digits embedded; the "marker" set generated, with
its marker positions as ground truth; your own image folder, read lazily; MNIST, Fashion-MNIST,
CIFAR-10 downloaded), `as_images`, which gives any batch of images the (N, H, W, C) layout, and
`augmentation`, the named stacks of Keras preprocessing layers the vision recipes train with."""
