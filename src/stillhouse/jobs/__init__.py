"""stillhouse.jobs"""
