"""The pygame viewer, replay playback and league plots."""
