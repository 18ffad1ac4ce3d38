-- Meterhub on Citus: distribute the usage tables by ESI ID, keep them partitioned by month.
--
-- Run by `meterhub-migrate upgrade head --distribute` on the coordinator (set that command in
-- the ingest chart's `migrations.command` for a Citus cluster). Idempotent. On plain PostgreSQL (no citus extension)
-- it degrades to what partitioning alone gives: it only makes sure the monthly partitions of
-- the coming months exist.
--
-- Why ESI ID and never REP: a meter's REP changes over time (service history), while its
-- ESI ID never does, and every read and every load is by ESI ID. All tables below carry
-- `esiid` in their primary key, so they can be co-located and joined shard-locally
-- (interval_reads JOIN service_history JOIN esiids for the access rule).
DO $$
DECLARE
    has_citus boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus');
    distributed text[] := ARRAY[
        'esiids', 'meters', 'service_history', 'customer_esiid_links',
        'interval_reads', 'daily_reads', 'monthly_usage'
    ];
    reference text[] := ARRAY['entities', 'api_clients', 'customer_accounts'];
    name text;
BEGIN
    -- Partitions for this month and the next two, so loads never wait on DDL.
    PERFORM meterhub_ensure_month_partitions(
        'interval_reads', date_trunc('month', now())::date, (now() + interval '2 months')::date
    );
    IF NOT has_citus THEN
        RAISE NOTICE 'citus is not installed: usage tables stay partitioned by month only';
        RETURN;
    END IF;
    FOREACH name IN ARRAY reference LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = name::regclass) THEN
            EXECUTE format('SELECT create_reference_table(%L)', name);
        END IF;
    END LOOP;
    FOREACH name IN ARRAY distributed LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = name::regclass) THEN
            EXECUTE format(
                'SELECT create_distributed_table(%L, %L, colocate_with => %L)',
                name, 'esiid', CASE WHEN name = 'esiids' THEN 'default' ELSE 'esiids' END
            );
        END IF;
    END LOOP;
END;
$$;
