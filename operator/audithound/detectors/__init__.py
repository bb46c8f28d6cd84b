"""Detectors: each rule type turns the events its query matched into findings.

A query rule's detector passes every match through; new_terms and threshold rules keep state
(seen terms, open groups) that snapshots and restores with the read position. Rule types are
siblings behind one seam (:class:`base.Detector`), never flags on one class.
"""
