{{ incremental_base_config(['order_id']) }}

{{ incremental_latest_versions(source('raw', 'orders'), ['order_id']) }}
