"""The admin as one product: the site (name, the operator's groups, the dashboard), the
look every page shares (dates, breadcrumbs, the favicon, keyboard shortcuts), and the
pieces of it that no single domain owns."""
