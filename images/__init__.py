"""The workspace image: its recipe (``workspace/``, shipped as package data) and the builder
that turns it into a Podman image (``build/``, ``wws image build``)."""
