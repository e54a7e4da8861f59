"""Image builds from Dockerfiles: the Dockerfile front end (``sbx.build.dockerfile``) and
build-context filtering (``sbx.build.dockerignore``)."""
