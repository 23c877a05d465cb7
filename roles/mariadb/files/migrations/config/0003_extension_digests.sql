-- Every digest form either edge engine can check, kept with the extension: the configuration
-- database is the source the edge's subscriber rows are written from, whichever engine runs
-- (Kamailio reads ha1/ha1b, OpenSIPS ha1/ha1_sha256/ha1_sha512t256), and an exported tenant
-- file carries them so re-applying it changes nothing. Still no clear password anywhere.
-- HA1B = MD5(user@domain:domain:password); HA1-SHA-512/256 as RFC 8760.
-- up
ALTER TABLE extensions ADD COLUMN ha1b CHAR(32) NOT NULL DEFAULT '' AFTER ha1;
ALTER TABLE extensions ADD COLUMN ha1_sha512t256 CHAR(64) NOT NULL DEFAULT '' AFTER ha1_sha256;
-- down
ALTER TABLE extensions DROP COLUMN IF EXISTS ha1_sha512t256;
ALTER TABLE extensions DROP COLUMN IF EXISTS ha1b;
