"""Ray pipelines: actor pools over the same stage code the in-process runner uses."""
