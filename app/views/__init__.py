"""The main window's pages, one module each; every page is a :class:`~app.views.base.View`."""
