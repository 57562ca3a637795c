{{ incremental_base_config(['opportunity_id', 'stage', 'entered_at']) }}

{{ incremental_latest_versions(source('raw', 'opportunity_stage_history'), ['opportunity_id', 'stage', 'entered_at'], versioned=false) }}
