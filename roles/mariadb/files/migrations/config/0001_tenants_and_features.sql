-- Configuration service: what FreeSWITCH's mod_xml_curl asks for (directory, dialplan,
-- conferences, IVRs, queues) per tenant. Tenant ids are the inventory's tenant ids. Child rows
-- of a feature go with it (CASCADE); a tenant with anything left cannot be deleted (RESTRICT).
-- Destinations (DIDs, IVR entries) are a type plus a number inside the tenant: the
-- configuration service resolves them, so no foreign key can cover every type.
-- up
CREATE TABLE tenants (
    id VARCHAR(32) NOT NULL,
    name VARCHAR(64) NOT NULL,
    domain VARCHAR(253) NOT NULL,
    shard VARCHAR(64) NOT NULL,
    permissions SET('internal', 'local', 'national', 'international', 'premium') NOT NULL DEFAULT 'internal',
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY domain_uq (domain),
    INDEX shard_idx (shard)
) ENGINE=InnoDB;
CREATE TABLE extensions (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tenant_id VARCHAR(32) NOT NULL,
    extension VARCHAR(32) NOT NULL,
    sip_username VARCHAR(64) NOT NULL,
    -- Digest secrets only: HA1 = MD5(user:domain:password), and its SHA-256 form (RFC 8760).
    ha1 CHAR(32) NOT NULL,
    ha1_sha256 CHAR(64) NOT NULL DEFAULT '',
    display_name VARCHAR(64) NOT NULL DEFAULT '',
    caller_id_number VARCHAR(32) NOT NULL DEFAULT '',
    voicemail_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY tenant_extension_uq (tenant_id, extension),
    UNIQUE KEY tenant_username_uq (tenant_id, sip_username),
    CONSTRAINT extensions_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE
) ENGINE=InnoDB;
CREATE TABLE voicemail_boxes (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tenant_id VARCHAR(32) NOT NULL,
    mailbox VARCHAR(32) NOT NULL,
    extension_id BIGINT UNSIGNED NULL,
    pin_hash VARCHAR(255) NOT NULL,
    email VARCHAR(254) NOT NULL DEFAULT '',
    max_messages SMALLINT UNSIGNED NOT NULL DEFAULT 100,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY tenant_mailbox_uq (tenant_id, mailbox),
    INDEX extension_idx (extension_id),
    CONSTRAINT voicemail_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT voicemail_extension_fk FOREIGN KEY (extension_id) REFERENCES extensions (id) ON DELETE SET NULL
) ENGINE=InnoDB;
CREATE TABLE ring_groups (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tenant_id VARCHAR(32) NOT NULL,
    number VARCHAR(32) NOT NULL,
    name VARCHAR(64) NOT NULL,
    strategy ENUM('simultaneous', 'sequential') NOT NULL DEFAULT 'simultaneous',
    ring_timeout_s SMALLINT UNSIGNED NOT NULL DEFAULT 30,
    PRIMARY KEY (id),
    UNIQUE KEY tenant_number_uq (tenant_id, number),
    CONSTRAINT ring_groups_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE
) ENGINE=InnoDB;
CREATE TABLE ring_group_members (
    ring_group_id BIGINT UNSIGNED NOT NULL,
    extension_id BIGINT UNSIGNED NOT NULL,
    position SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    delay_s SMALLINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (ring_group_id, extension_id),
    INDEX extension_idx (extension_id),
    CONSTRAINT rgm_group_fk FOREIGN KEY (ring_group_id) REFERENCES ring_groups (id) ON DELETE CASCADE,
    CONSTRAINT rgm_extension_fk FOREIGN KEY (extension_id) REFERENCES extensions (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE conferences (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tenant_id VARCHAR(32) NOT NULL,
    number VARCHAR(32) NOT NULL,
    name VARCHAR(64) NOT NULL,
    pin_hash VARCHAR(255) NOT NULL DEFAULT '',
    max_members SMALLINT UNSIGNED NOT NULL DEFAULT 20,
    PRIMARY KEY (id),
    UNIQUE KEY tenant_number_uq (tenant_id, number),
    CONSTRAINT conferences_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE
) ENGINE=InnoDB;
CREATE TABLE ivr_menus (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tenant_id VARCHAR(32) NOT NULL,
    number VARCHAR(32) NOT NULL,
    name VARCHAR(64) NOT NULL,
    greeting VARCHAR(255) NOT NULL DEFAULT '',
    timeout_s SMALLINT UNSIGNED NOT NULL DEFAULT 10,
    max_failures TINYINT UNSIGNED NOT NULL DEFAULT 3,
    PRIMARY KEY (id),
    UNIQUE KEY tenant_number_uq (tenant_id, number),
    CONSTRAINT ivr_menus_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE
) ENGINE=InnoDB;
CREATE TABLE ivr_entries (
    ivr_menu_id BIGINT UNSIGNED NOT NULL,
    digits VARCHAR(8) NOT NULL,
    dest_type ENUM('extension', 'ring_group', 'ivr', 'queue', 'conference', 'voicemail', 'hangup') NOT NULL,
    dest_value VARCHAR(32) NOT NULL DEFAULT '',
    PRIMARY KEY (ivr_menu_id, digits),
    CONSTRAINT ivr_entries_menu_fk FOREIGN KEY (ivr_menu_id) REFERENCES ivr_menus (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE queues (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    tenant_id VARCHAR(32) NOT NULL,
    number VARCHAR(32) NOT NULL,
    name VARCHAR(64) NOT NULL,
    strategy ENUM('longest-idle-agent', 'ring-all', 'round-robin', 'top-down') NOT NULL DEFAULT 'longest-idle-agent',
    max_wait_s SMALLINT UNSIGNED NOT NULL DEFAULT 300,
    PRIMARY KEY (id),
    UNIQUE KEY tenant_number_uq (tenant_id, number),
    CONSTRAINT queues_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE
) ENGINE=InnoDB;
CREATE TABLE queue_agents (
    queue_id BIGINT UNSIGNED NOT NULL,
    extension_id BIGINT UNSIGNED NOT NULL,
    tier_level TINYINT UNSIGNED NOT NULL DEFAULT 1,
    tier_position TINYINT UNSIGNED NOT NULL DEFAULT 1,
    PRIMARY KEY (queue_id, extension_id),
    INDEX extension_idx (extension_id),
    CONSTRAINT queue_agents_queue_fk FOREIGN KEY (queue_id) REFERENCES queues (id) ON DELETE CASCADE,
    CONSTRAINT queue_agents_extension_fk FOREIGN KEY (extension_id) REFERENCES extensions (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE dids (
    did VARCHAR(16) NOT NULL,
    tenant_id VARCHAR(32) NOT NULL,
    dest_type ENUM('extension', 'ring_group', 'ivr', 'queue', 'conference', 'voicemail') NOT NULL,
    dest_value VARCHAR(32) NOT NULL,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (did),
    INDEX tenant_idx (tenant_id),
    CONSTRAINT dids_tenant_fk FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE RESTRICT ON UPDATE CASCADE
) ENGINE=InnoDB;
-- down
DROP TABLE IF EXISTS dids;
DROP TABLE IF EXISTS queue_agents;
DROP TABLE IF EXISTS queues;
DROP TABLE IF EXISTS ivr_entries;
DROP TABLE IF EXISTS ivr_menus;
DROP TABLE IF EXISTS conferences;
DROP TABLE IF EXISTS ring_group_members;
DROP TABLE IF EXISTS ring_groups;
DROP TABLE IF EXISTS voicemail_boxes;
DROP TABLE IF EXISTS extensions;
DROP TABLE IF EXISTS tenants;
