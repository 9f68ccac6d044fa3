"""Desired deployment state in git: read and change env overlays, commit, push with retry on conflict."""
