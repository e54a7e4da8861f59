"""Pure OCI/Docker data: references, digests, media types, manifests, image configs."""
