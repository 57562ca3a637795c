{{ incremental_base_config(['activity_id']) }}

{{ incremental_latest_versions(source('raw', 'activities'), ['activity_id']) }}
