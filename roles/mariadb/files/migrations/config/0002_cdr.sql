-- Call detail records, written by the feature servers' CDR writer (INSERT only). No foreign
-- key to tenants: records outlive a deleted tenant. call_uuid is unique so a writer that
-- retries after a database failover cannot record a call twice.
-- up
CREATE TABLE cdr (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    call_uuid CHAR(36) NOT NULL,
    tenant_id VARCHAR(32) NOT NULL,
    shard VARCHAR(64) NOT NULL,
    feature_server VARCHAR(64) NOT NULL,
    direction ENUM('inbound', 'outbound', 'internal') NOT NULL,
    caller VARCHAR(64) NOT NULL,
    callee VARCHAR(64) NOT NULL,
    did VARCHAR(16) NULL,
    start_at DATETIME(3) NOT NULL,
    answer_at DATETIME(3) NULL,
    end_at DATETIME(3) NOT NULL,
    duration_ms INT UNSIGNED NOT NULL,
    billsec_ms INT UNSIGNED NOT NULL DEFAULT 0,
    disposition ENUM('answered', 'no_answer', 'busy', 'failed', 'cancelled') NOT NULL,
    hangup_cause VARCHAR(32) NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY call_uuid_uq (call_uuid),
    INDEX tenant_start_idx (tenant_id, start_at),
    INDEX start_idx (start_at),
    INDEX feature_server_start_idx (feature_server, start_at)
) ENGINE=InnoDB;
-- down
DROP TABLE IF EXISTS cdr;
