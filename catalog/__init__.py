"""Catalog: finding, reading and validating a photographer's edited catalog (CSV + images), and the
answers/predictions CSVs."""
from core.errors import CatalogError, ImageReadError
from catalog.reader import Catalog, find_split, load_catalog, read_catalog

__all__ = ["CatalogError", "ImageReadError", "Catalog", "read_catalog", "load_catalog", "find_split"]
