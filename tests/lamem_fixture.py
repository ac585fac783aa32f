from memscore_plugins.demo.synthetic import OFFICIAL, build_bad_images, build_lamem, latent, split_sizes  # noqa: F401
__all__ = ["build_lamem", "build_bad_images", "split_sizes", "latent", "OFFICIAL"]  # moved: plugins/demo/synthetic.py
