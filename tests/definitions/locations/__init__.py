"""Small code locations, most of them broken on purpose, for tests of location loading."""
