"""CRM source adapters: each turns a CRM's exports or API records into canonical landing files.

Every adapter writes ``<table>.csv`` files of the raw contract into a landing drop folder, so real
sources go through exactly the same load, quarantine and quality path as the demo CRM.
"""
