{{ incremental_base_config(['opportunity_id']) }}

{{ incremental_latest_versions(source('raw', 'opportunities'), ['opportunity_id']) }}
