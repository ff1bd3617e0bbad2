"""Files: local and gs:// paths and safe writes, image and torch files, the compile cache."""
