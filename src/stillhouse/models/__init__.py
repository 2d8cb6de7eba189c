"""stillhouse.models"""
