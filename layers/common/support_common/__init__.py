"""Everything the support desk's functions share: models, settings, storage, mail and paging."""
