"""Stylising one image: the VGG-19 encoder, the loss terms, the optimiser, colour handling."""
