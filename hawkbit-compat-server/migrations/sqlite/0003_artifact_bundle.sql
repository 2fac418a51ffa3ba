-- What a verified RAUC bundle declares (SQLite; twin of ../postgres/0003_artifact_bundle.sql).
-- NULL bundle_compatible: the artifact is not a RAUC bundle. A row with a compatible exists only
-- for bundles whose signature the server verified before storing them.
ALTER TABLE artifact ADD COLUMN bundle_compatible TEXT;
ALTER TABLE artifact ADD COLUMN bundle_version TEXT;
