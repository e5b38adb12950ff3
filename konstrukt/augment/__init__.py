"""Train-time augmentations per modality, registered by name with their config fields."""
