"""zeroshot in napari: an npe2 plugin (manifest ``napari.yaml``) with a denoising widget, a reader for the EM
formats, a writer to MRC and TIFF, and the sample images.

Importing this package imports neither napari nor Qt: the Qt-free logic (`_options`, `_layers`, `_run`, `_reader`,
`_writer`, `_sample`, `_notify`) is separate from the widget (`_widget`), which napari imports when it opens it.
"""
