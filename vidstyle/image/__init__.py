"""Still images: the one loader, and conversion to and from tensors."""
