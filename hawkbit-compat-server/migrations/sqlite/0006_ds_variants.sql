-- Supported RAUC variants (the agent reports the device's as the attribute "variant");
-- a distribution set without rows runs on any variant. Twin of ../postgres/0006_ds_variants.sql.
CREATE TABLE distribution_set_variant (
    distribution_set_id INTEGER NOT NULL REFERENCES distribution_set (distribution_set_id) ON DELETE CASCADE,
    variant             TEXT    NOT NULL,
    PRIMARY KEY (distribution_set_id, variant)
);
