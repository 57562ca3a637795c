{{ incremental_base_config(['delivery_id']) }}

{{ incremental_latest_versions(source('raw', 'deliveries'), ['delivery_id'], versioned=false) }}
