-- Edge schema for Kamailio 6.0: the tables and `version` rows the engine checks at
-- start-up. Columns, types, keys and versions follow the engine's own schema definition
-- for that release; tables are InnoDB with a primary key each (Galera certifies by key).
-- up
CREATE TABLE version (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INT UNSIGNED DEFAULT 0 NOT NULL,
    UNIQUE KEY table_name_idx (table_name)
) ENGINE=InnoDB;
CREATE TABLE subscriber (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    UNIQUE KEY account_idx (username, domain),
    INDEX username_idx (username)
) ENGINE=InnoDB;
CREATE TABLE location (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    contact VARCHAR(512) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT NULL,
    path VARCHAR(512) DEFAULT NULL,
    expires DATETIME DEFAULT '2030-05-28 21:32:15' NOT NULL,
    q FLOAT(10,2) DEFAULT 1.0 NOT NULL,
    callid VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    cseq INT(11) DEFAULT 1 NOT NULL,
    last_modified DATETIME DEFAULT '2000-01-01 00:00:01' NOT NULL,
    flags INT(11) DEFAULT 0 NOT NULL,
    cflags INT(11) DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(64) DEFAULT NULL,
    methods INT(11) DEFAULT NULL,
    instance VARCHAR(255) DEFAULT NULL,
    reg_id INT(11) DEFAULT 0 NOT NULL,
    server_id INT(11) DEFAULT 0 NOT NULL,
    connection_id INT(11) DEFAULT 0 NOT NULL,
    keepalive INT(11) DEFAULT 0 NOT NULL,
    `partition` INT(11) DEFAULT 0 NOT NULL,
    UNIQUE KEY ruid_idx (ruid),
    INDEX account_contact_idx (username, domain, contact),
    INDEX expires_idx (expires),
    INDEX tcpcon_idx (connection_id),
    INDEX connection_idx (server_id, connection_id)
) ENGINE=InnoDB;
CREATE TABLE location_attrs (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    ruid VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT NULL,
    aname VARCHAR(64) DEFAULT '' NOT NULL,
    atype INT(11) DEFAULT 0 NOT NULL,
    avalue VARCHAR(512) DEFAULT '' NOT NULL,
    last_modified DATETIME DEFAULT '2000-01-01 00:00:01' NOT NULL,
    INDEX account_record_idx (username, domain, ruid),
    INDEX last_modified_idx (last_modified)
) ENGINE=InnoDB;
CREATE TABLE dispatcher (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    setid INT DEFAULT 0 NOT NULL,
    destination VARCHAR(192) DEFAULT '' NOT NULL,
    flags INT DEFAULT 0 NOT NULL,
    priority INT DEFAULT 0 NOT NULL,
    attrs VARCHAR(128) DEFAULT '' NOT NULL,
    description VARCHAR(64) DEFAULT '' NOT NULL
) ENGINE=InnoDB;
CREATE TABLE trusted (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    src_ip VARCHAR(50) NOT NULL,
    proto VARCHAR(4) NOT NULL,
    from_pattern VARCHAR(64) DEFAULT NULL,
    ruri_pattern VARCHAR(64) DEFAULT NULL,
    tag VARCHAR(64),
    priority INT DEFAULT 0 NOT NULL,
    INDEX peer_idx (src_ip)
) ENGINE=InnoDB;
CREATE TABLE address (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    grp INT(11) UNSIGNED DEFAULT 1 NOT NULL,
    ip_addr VARCHAR(50) NOT NULL,
    mask INT DEFAULT 32 NOT NULL,
    port SMALLINT(5) UNSIGNED DEFAULT 0 NOT NULL,
    tag VARCHAR(64)
) ENGINE=InnoDB;
CREATE TABLE domain (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    domain VARCHAR(64) NOT NULL,
    did VARCHAR(64) DEFAULT NULL,
    last_modified DATETIME DEFAULT '2000-01-01 00:00:01' NOT NULL,
    UNIQUE KEY domain_idx (domain)
) ENGINE=InnoDB;
CREATE TABLE domain_attrs (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    did VARCHAR(64) NOT NULL,
    name VARCHAR(32) NOT NULL,
    type INT UNSIGNED NOT NULL,
    value VARCHAR(255) NOT NULL,
    last_modified DATETIME DEFAULT '2000-01-01 00:00:01' NOT NULL,
    INDEX domain_attrs_idx (did, name)
) ENGINE=InnoDB;
CREATE TABLE dialog (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    hash_entry INT(10) UNSIGNED NOT NULL,
    hash_id INT(10) UNSIGNED NOT NULL,
    callid VARCHAR(255) NOT NULL,
    from_uri VARCHAR(255) NOT NULL,
    from_tag VARCHAR(128) NOT NULL,
    to_uri VARCHAR(255) NOT NULL,
    to_tag VARCHAR(128) NOT NULL,
    caller_cseq VARCHAR(20) NOT NULL,
    callee_cseq VARCHAR(20) NOT NULL,
    caller_route_set VARCHAR(512),
    callee_route_set VARCHAR(512),
    caller_contact VARCHAR(255) NOT NULL,
    callee_contact VARCHAR(255) NOT NULL,
    caller_sock VARCHAR(64) NOT NULL,
    callee_sock VARCHAR(64) NOT NULL,
    state INT(10) UNSIGNED NOT NULL,
    start_time INT(10) UNSIGNED NOT NULL,
    timeout INT(10) UNSIGNED DEFAULT 0 NOT NULL,
    sflags INT(10) UNSIGNED DEFAULT 0 NOT NULL,
    iflags INT(10) UNSIGNED DEFAULT 0 NOT NULL,
    toroute_name VARCHAR(32),
    req_uri VARCHAR(255) NOT NULL,
    xdata VARCHAR(512),
    INDEX hash_idx (hash_entry, hash_id)
) ENGINE=InnoDB;
CREATE TABLE dialog_vars (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    hash_entry INT(10) UNSIGNED NOT NULL,
    hash_id INT(10) UNSIGNED NOT NULL,
    dialog_key VARCHAR(128) NOT NULL,
    dialog_value VARCHAR(512) NOT NULL,
    INDEX hash_idx (hash_entry, hash_id)
) ENGINE=InnoDB;
CREATE TABLE acc (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time DATETIME NOT NULL,
    INDEX callid_idx (callid)
) ENGINE=InnoDB;
CREATE TABLE acc_cdrs (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    start_time DATETIME DEFAULT '2000-01-01 00:00:00' NOT NULL,
    end_time DATETIME DEFAULT '2000-01-01 00:00:00' NOT NULL,
    duration FLOAT(10,3) DEFAULT 0 NOT NULL,
    INDEX start_time_idx (start_time)
) ENGINE=InnoDB;
CREATE TABLE missed_calls (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time DATETIME NOT NULL,
    INDEX callid_idx (callid)
) ENGINE=InnoDB;
CREATE TABLE presentity (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL,
    event VARCHAR(64) NOT NULL,
    etag VARCHAR(128) NOT NULL,
    expires INT(11) NOT NULL,
    received_time INT(11) NOT NULL,
    body BLOB NOT NULL,
    sender VARCHAR(255) NOT NULL,
    priority INT(11) DEFAULT 0 NOT NULL,
    ruid VARCHAR(64),
    UNIQUE KEY presentity_idx (username, domain, event, etag),
    UNIQUE KEY ruid_idx (ruid),
    INDEX presentity_expires (expires),
    INDEX account_idx (username, domain, event)
) ENGINE=InnoDB;
CREATE TABLE active_watchers (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    presentity_uri VARCHAR(255) NOT NULL,
    watcher_username VARCHAR(64) NOT NULL,
    watcher_domain VARCHAR(64) NOT NULL,
    to_user VARCHAR(64) NOT NULL,
    to_domain VARCHAR(64) NOT NULL,
    event VARCHAR(64) DEFAULT 'presence' NOT NULL,
    event_id VARCHAR(64),
    to_tag VARCHAR(128) NOT NULL,
    from_tag VARCHAR(128) NOT NULL,
    callid VARCHAR(255) NOT NULL,
    local_cseq INT(11) NOT NULL,
    remote_cseq INT(11) NOT NULL,
    contact VARCHAR(255) NOT NULL,
    record_route TEXT,
    expires INT(11) NOT NULL,
    status INT(11) DEFAULT 2 NOT NULL,
    reason VARCHAR(64),
    version INT(11) DEFAULT 0 NOT NULL,
    socket_info VARCHAR(64) NOT NULL,
    local_contact VARCHAR(255) NOT NULL,
    from_user VARCHAR(64) NOT NULL,
    from_domain VARCHAR(64) NOT NULL,
    updated INT(11) NOT NULL,
    updated_winfo INT(11) NOT NULL,
    flags INT(11) DEFAULT 0 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '',
    UNIQUE KEY active_watchers_idx (callid, to_tag, from_tag),
    INDEX active_watchers_expires (expires),
    INDEX active_watchers_pres (presentity_uri, event),
    INDEX updated_idx (updated),
    INDEX updated_winfo_idx (updated_winfo, presentity_uri)
) ENGINE=InnoDB;
CREATE TABLE watchers (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    presentity_uri VARCHAR(255) NOT NULL,
    watcher_username VARCHAR(64) NOT NULL,
    watcher_domain VARCHAR(64) NOT NULL,
    event VARCHAR(64) DEFAULT 'presence' NOT NULL,
    status INT(11) NOT NULL,
    reason VARCHAR(64),
    inserted_time INT(11) NOT NULL,
    UNIQUE KEY watcher_idx (presentity_uri, watcher_username, watcher_domain, event),
    INDEX time_status_idx (inserted_time, status)
) ENGINE=InnoDB;
CREATE TABLE xcap (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    username VARCHAR(64) NOT NULL,
    domain VARCHAR(64) NOT NULL,
    doc MEDIUMBLOB NOT NULL,
    doc_type INT(11) NOT NULL,
    etag VARCHAR(128) NOT NULL,
    source INT(11) NOT NULL,
    doc_uri VARCHAR(255) NOT NULL,
    port INT(11) NOT NULL,
    UNIQUE KEY doc_uri_idx (doc_uri),
    INDEX account_doc_type_idx (username, domain, doc_type),
    INDEX account_doc_type_uri_idx (username, domain, doc_type, doc_uri),
    INDEX account_doc_uri_idx (username, domain, doc_uri)
) ENGINE=InnoDB;
CREATE TABLE pua (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    pres_uri VARCHAR(255) NOT NULL,
    pres_id VARCHAR(255) NOT NULL,
    event INT(11) NOT NULL,
    expires INT(11) NOT NULL,
    desired_expires INT(11) NOT NULL,
    flag INT(11) NOT NULL,
    etag VARCHAR(128) NOT NULL,
    tuple_id VARCHAR(64),
    watcher_uri VARCHAR(255) NOT NULL,
    call_id VARCHAR(255) NOT NULL,
    to_tag VARCHAR(128) NOT NULL,
    from_tag VARCHAR(128) NOT NULL,
    cseq INT(11) NOT NULL,
    record_route TEXT,
    contact VARCHAR(255) NOT NULL,
    remote_contact VARCHAR(255) NOT NULL,
    version INT(11) NOT NULL,
    extra_headers TEXT NOT NULL,
    UNIQUE KEY pua_idx (etag, tuple_id, call_id, from_tag),
    INDEX expires_idx (expires),
    INDEX dialog1_idx (pres_id, pres_uri),
    INDEX dialog2_idx (call_id, from_tag),
    INDEX record_idx (pres_id)
) ENGINE=InnoDB;
INSERT INTO version (table_name, table_version) VALUES
    ('version', 1),
    ('subscriber', 7),
    ('location', 9),
    ('location_attrs', 1),
    ('dispatcher', 4),
    ('trusted', 6),
    ('address', 6),
    ('domain', 2),
    ('domain_attrs', 1),
    ('dialog', 7),
    ('dialog_vars', 1),
    ('acc', 5),
    ('acc_cdrs', 2),
    ('missed_calls', 4),
    ('presentity', 5),
    ('active_watchers', 12),
    ('watchers', 3),
    ('xcap', 4),
    ('pua', 7);
-- down
DROP TABLE IF EXISTS pua;
DROP TABLE IF EXISTS xcap;
DROP TABLE IF EXISTS watchers;
DROP TABLE IF EXISTS active_watchers;
DROP TABLE IF EXISTS presentity;
DROP TABLE IF EXISTS missed_calls;
DROP TABLE IF EXISTS acc_cdrs;
DROP TABLE IF EXISTS acc;
DROP TABLE IF EXISTS dialog_vars;
DROP TABLE IF EXISTS dialog;
DROP TABLE IF EXISTS domain_attrs;
DROP TABLE IF EXISTS domain;
DROP TABLE IF EXISTS address;
DROP TABLE IF EXISTS trusted;
DROP TABLE IF EXISTS dispatcher;
DROP TABLE IF EXISTS location_attrs;
DROP TABLE IF EXISTS location;
DROP TABLE IF EXISTS subscriber;
DROP TABLE IF EXISTS version;
