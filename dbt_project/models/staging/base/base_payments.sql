{{ incremental_base_config(['payment_id']) }}

{{ incremental_latest_versions(source('raw', 'payments'), ['payment_id'], versioned=false) }}
