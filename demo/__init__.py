"""The demo: synthetic catalogs (plain and Lightroom) and the runs that put every command through them."""
