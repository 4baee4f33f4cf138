raise RuntimeError("this location is broken at import")
