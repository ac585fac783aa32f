from memscore_plugins.demo.synthetic import EARLY, LATE, _images, brainscore_assembly, build_neural, write_brainio  # noqa
__all__ = ["build_neural", "write_brainio", "brainscore_assembly", "EARLY", "LATE"]  # moved: plugins/demo/synthetic.py
