"""Errors users see. Each message names the file, row, column and what was expected."""


class CatalogError(ValueError):
    """A catalog (CSV + images) cannot be read as given."""


class ImageReadError(CatalogError):
    """An image file is missing, unreadable, corrupt or of an unsupported shape."""
