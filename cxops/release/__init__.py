"""The release: moving an environment (deploy, retire, canary weight), what it serves, reconcile and status."""
