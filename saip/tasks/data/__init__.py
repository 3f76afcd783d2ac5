"""Task datasets in their standard layouts, their transforms and the epoch samplers."""
