{{ incremental_base_config(['lead_id']) }}

{{ incremental_latest_versions(source('raw', 'leads'), ['lead_id']) }}
