{{ incremental_base_config(['customer_id']) }}

{{ incremental_latest_versions(source('raw', 'customers'), ['customer_id']) }}
