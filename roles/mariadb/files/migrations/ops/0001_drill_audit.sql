-- Operations data: the audit table drills write through one node and count on another
-- (acknowledged writes lost in a failover = rows the client saw committed that are missing).
-- up
CREATE TABLE drill_audit (
    run_id CHAR(36) NOT NULL,
    seq INT UNSIGNED NOT NULL,
    written_via VARCHAR(64) NOT NULL,
    written_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (run_id, seq),
    INDEX written_at_idx (written_at)
) ENGINE=InnoDB;
-- down
DROP TABLE IF EXISTS drill_audit;
