"""`make bench`: cxops measured against its peer in the same run, printed as ratios."""
