"""Image data: the registered image datasets (digits embedded; MNIST, Fashion-MNIST, CIFAR-10 downloaded)."""
